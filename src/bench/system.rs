//! Phases that run the real binary: start-up time and the memory of idle connections.
//!
//! Both spawn `herd run` (this executable unless `--herd-bin` says otherwise) with a one-server
//! config on a free loopback port and logs in a temporary folder, and kill it afterwards.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::report::{Idle, Startup};

/// A temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty folder under the system's temporary folder.
    pub fn new(what: &str) -> Result<TempDir, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("herd-bench-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by its own pid) and reaped on drop.
struct Server {
    /// The process.
    child: Child,
    /// Where it listens.
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound, then released).
fn free_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}

/// A command running the herd binary `bin` as a benchmark wants it: no Places key and no
/// secret from the caller's environment, no terminal.
pub fn herd_command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_remove("GOOGLE_PLACES_API_KEY")
        .env_remove("HERD_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Spawns `herd run Bench` on a free port; returns it and the spawn instant.
fn spawn(bin: &Path, dir: &Path, max_connections: usize) -> Result<(Server, Instant), String> {
    let addr = free_addr()?;
    let cfg = dir.join("bench.ron");
    let text = format!(
        "(servers: [(name: \"Bench\", listen: \"{addr}\")], links: [], places: (provider: Offline), \
         limits: (max_connections: {max_connections}))"
    );
    std::fs::write(&cfg, text).map_err(|e| format!("cannot write {}: {e}", cfg.display()))?;
    let started = Instant::now();
    let child = herd_command(bin)
        .args(["run", "Bench", "--config"])
        .arg(&cfg)
        .arg("--log-dir")
        .arg(dir.join("logs"))
        // Durable, as `herd run` is by default; the previous server was reaped, so the
        // folder's lock is free.
        .arg("--data-dir")
        .arg(dir.join("data"))
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    Ok((Server { child, addr }, started))
}

/// Polls until `server` accepts a connection (at most 5 s); returns the time since `since`.
fn wait_accepting(server: &mut Server, since: Instant) -> Result<Duration, String> {
    let end = since + Duration::from_secs(5);
    loop {
        if TcpStream::connect_timeout(&server.addr, Duration::from_millis(100)).is_ok() {
            return Ok(since.elapsed());
        }
        if let Ok(Some(st)) = server.child.try_wait() {
            return Err(format!("herd run exited early: {st}"));
        }
        if Instant::now() > end {
            return Err("not accepting within 5 s".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Start-up: `runs` spawns, each timed from spawn to the first accepted connection.
pub fn startup(bin: &Path, runs: usize) -> Startup {
    let mut out = Startup {
        runs_ms: Vec::new(),
        median_ms: 0.0,
        max_ms: 0.0,
        error: None,
    };
    let dir = match TempDir::new("startup") {
        Ok(d) => d,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    for _ in 0..runs {
        let took = spawn(bin, &dir.0, 100).and_then(|(mut s, t0)| wait_accepting(&mut s, t0));
        match took {
            Ok(d) => out.runs_ms.push(d.as_secs_f64() * 1e3),
            Err(e) => {
                out.error = Some(e);
                break;
            }
        }
    }
    let mut sorted = out.runs_ms.clone();
    sorted.sort_by(f64::total_cmp);
    if !sorted.is_empty() {
        out.median_ms = sorted[sorted.len() / 2];
        out.max_ms = sorted[sorted.len() - 1];
    }
    out
}

/// The resident set of process `pid`, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sends one IAMAT on `s` and reads one line back (2 s deadline).
fn answers(s: &mut TcpStream, i: usize) -> bool {
    let cmd = format!("IAMAT idle{i} +1+1 1700000000.{i:09}\n");
    if s.set_read_timeout(Some(Duration::from_secs(2))).is_err()
        || s.write_all(cmd.as_bytes()).is_err()
    {
        return false;
    }
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    while !got.contains(&b'\n') {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    got.starts_with(b"AT Bench ")
}

/// Raises this process's soft limit on open files to at least `want` (never past the hard
/// limit); the servers it spawns inherit it. Returns the soft limit now in force.
fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < want {
            let old = lim.rlim_cur;
            lim.rlim_cur = want.min(lim.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return old;
            }
        }
    }
    lim.rlim_cur
}

/// Idle: `n` client connections held open on one `herd run`; its RSS before and with them.
pub fn idle(bin: &Path, n: usize) -> Idle {
    let mut out = Idle {
        wanted: n,
        opened: 0,
        answered: 0,
        sampled: 0,
        rss_before_kib: 0,
        rss_kib: 0,
        bytes_per_connection: 0.0,
        error: None,
    };
    // Both ends of every connection need a descriptor: this process and the server.
    let limit = raise_nofile(n as u64 + 256);
    if limit < n as u64 + 64 {
        out.error = Some(format!(
            "the open-file limit is {limit}, too low for {n} connections (raise `ulimit -Hn`)"
        ));
    }
    let dir = match TempDir::new("idle") {
        Ok(d) => d,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let mut server = match spawn(bin, &dir.0, n + 16).and_then(|(mut s, t0)| {
        wait_accepting(&mut s, t0)?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let pid = server.child.id();
    std::thread::sleep(Duration::from_millis(200));
    out.rss_before_kib = rss_kib(pid).unwrap_or(0);
    let mut conns = Vec::with_capacity(n);
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..n {
        if Instant::now() > deadline {
            out.error = Some(format!("only {} connections within 30 s", conns.len()));
            break;
        }
        match TcpStream::connect_timeout(&server.addr, Duration::from_secs(2)) {
            Ok(s) => conns.push(s),
            Err(e) => {
                out.error = Some(format!(
                    "connection {} failed: {e} (raise `ulimit -n`?)",
                    conns.len() + 1
                ));
                break;
            }
        }
    }
    out.opened = conns.len();
    // The listener accepts in order: once the last connection is answered, every connection
    // has been accepted and has its task.
    if let Some(last) = conns.last_mut() {
        if !answers(last, n) {
            out.error
                .get_or_insert("the last connection got no answer".into());
        }
    }
    // RSS settles once every connection's task has run; wait until two readings agree.
    let mut prev = 0;
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(150));
        let now = rss_kib(pid).unwrap_or(0);
        if now == prev {
            break;
        }
        prev = now;
    }
    out.rss_kib = prev;
    out.bytes_per_connection = if out.opened > 0 {
        (out.rss_kib.saturating_sub(out.rss_before_kib) * 1024) as f64 / out.opened as f64
    } else {
        0.0
    };
    let step = (conns.len() / 100).max(1);
    for (i, c) in conns.iter_mut().enumerate().step_by(step) {
        out.sampled += 1;
        if answers(c, i) {
            out.answered += 1;
        }
    }
    drop(conns);
    if let Ok(Some(st)) = server.child.try_wait() {
        out.error.get_or_insert(format!("server exited: {st}"));
    }
    out
}
