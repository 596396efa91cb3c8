//! The closed-loop load generator: N connections, each sending one command and waiting for its
//! reply before the next, until the duration or the command count runs out.
//!
//! It runs on the same runtime as the servers (through `crate::rt`). A reply ends at its first
//! newline, except a WHATSAT answered with an AT line, which ends at the blank line; so the same
//! generator drives the herd, the echo ceiling and other implementations of the protocol.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::{AsyncReadExt, AsyncWriteExt};
use hdrhistogram::Histogram;

use super::args::Mode;
use super::report::{LoadStats, Percentiles};
use crate::rt;

/// A reply bigger than this is an error (WHATSAT replies are a few KiB).
const MAX_REPLY: usize = 1 << 20;

/// What one load run does.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// The server.
    pub addr: SocketAddr,
    /// Persistent or per command.
    pub mode: Mode,
    /// Concurrent connections.
    pub connections: usize,
    /// Upper bound of the run's length.
    pub duration: Duration,
    /// Upper bound of the commands sent.
    pub count: u64,
    /// Percent of WHATSAT among the commands.
    pub whatsat_percent: u32,
    /// Client IDs are `<prefix><connection>`, so runs do not share clients.
    pub prefix: String,
    /// A command without a reply for this long is an error.
    pub op_timeout: Duration,
    /// Only WHATSAT, after one untimed IAMAT per connection at set-up.
    pub read_only: bool,
}

/// One connection's tallies.
struct Tally {
    /// Latency of good replies, microseconds.
    hist: Histogram<u64>,
    /// IAMATs answered.
    iamat: u64,
    /// WHATSATs answered.
    whatsat: u64,
    /// Replies of an unexpected shape (for example `? ` lines).
    unexpected: u64,
    /// Connect, read or write failures and timeouts.
    errors: u64,
    /// The first failure, for the report.
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            hist: new_histogram(),
            iamat: 0,
            whatsat: 0,
            unexpected: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// A latency histogram in microseconds, 1 µs to 100 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 100_000_000, 3) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds: {e}"),
    }
}

/// Microseconds, at least 1 (the histogram's floor).
pub fn micros(d: Duration) -> u64 {
    (d.as_micros().min(u128::from(u64::MAX)) as u64).max(1)
}

/// `--read-only`'s set-up: one IAMAT for each connection's client, the grader way, before the
/// clock starts; returns the first failure.
async fn set_up(spec: &LoadSpec) -> Result<(), String> {
    for id in 0..spec.connections {
        let mut cmd = Vec::new();
        next_command(spec, id, false, &mut fastrand::Rng::new(), &mut cmd);
        let mut reply = Vec::new();
        match rt::timeout(spec.op_timeout, one_shot(spec, &cmd, &mut reply)).await {
            Some(Ok(_)) if reply.starts_with(b"AT ") || reply == cmd => {}
            Some(Ok(_)) => {
                return Err(format!(
                    "set-up IAMAT answered {:?}",
                    String::from_utf8_lossy(&reply)
                ))
            }
            Some(Err(e)) => return Err(format!("set-up: {e}")),
            None => return Err("set-up: no reply".into()),
        }
    }
    Ok(())
}

/// Runs the load and sums what every connection saw.
pub async fn run(spec: &LoadSpec) -> LoadStats {
    if spec.read_only {
        if let Err(e) = set_up(spec).await {
            let mut t = Tally::new();
            t.error(e);
            return stats(spec, t, Duration::ZERO);
        }
    }
    let issued = Arc::new(AtomicU64::new(0));
    let (tx, rx) = async_channel::bounded(spec.connections);
    let start = Instant::now();
    let deadline = start + spec.duration;
    for id in 0..spec.connections {
        let spec = spec.clone();
        let issued = issued.clone();
        let tx = tx.clone();
        rt::spawn(async move {
            let tally = match spec.mode {
                Mode::Persistent => persistent(&spec, id, deadline, &issued).await,
                Mode::PerCommand => per_command(&spec, id, deadline, &issued).await,
            };
            let _ = tx.send(tally).await;
        });
    }
    drop(tx);
    let mut total = Tally::new();
    let mut reported = 0;
    // Every connection stops at the deadline plus one command's timeout at the latest.
    let limit = spec.duration + spec.op_timeout * 2 + Duration::from_secs(1);
    while let Some(Ok(t)) = rt::timeout(limit.saturating_sub(start.elapsed()), rx.recv()).await {
        let _ = total.hist.add(&t.hist);
        total.iamat += t.iamat;
        total.whatsat += t.whatsat;
        total.unexpected += t.unexpected;
        total.errors += t.errors;
        if total.first_error.is_none() {
            total.first_error = t.first_error;
        }
        reported += 1;
    }
    let elapsed = start.elapsed();
    if reported < spec.connections {
        total.error(format!(
            "{} connections never finished",
            spec.connections - reported
        ));
    }
    stats(spec, total, elapsed)
}

/// The report of a run from its tallies.
fn stats(spec: &LoadSpec, total: Tally, elapsed: Duration) -> LoadStats {
    let ok = total.iamat + total.whatsat;
    LoadStats {
        target: spec.addr.to_string(),
        mode: spec.mode,
        connections: spec.connections,
        requests: ok + total.unexpected,
        iamat: total.iamat,
        whatsat: total.whatsat,
        unexpected: total.unexpected,
        errors: total.errors,
        first_error: total.first_error,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        throughput: ok as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_us: Percentiles::of(&total.hist),
    }
}

/// True while the run may send another command (and counts it).
fn may_send(spec: &LoadSpec, deadline: Instant, issued: &AtomicU64) -> bool {
    Instant::now() < deadline && issued.fetch_add(1, Relaxed) < spec.count
}

/// The next command into `cmd`; true for WHATSAT.
fn next_command(
    spec: &LoadSpec,
    id: usize,
    known: bool,
    rng: &mut fastrand::Rng,
    cmd: &mut Vec<u8>,
) -> bool {
    use std::io::Write;
    cmd.clear();
    let whatsat = known && (spec.read_only || rng.u32(0..100) < spec.whatsat_percent);
    if whatsat {
        let _ = writeln!(cmd, "WHATSAT {}{id} 10 5", spec.prefix);
    } else {
        push_iamat(cmd, format_args!("{}{id}", spec.prefix), SystemTime::now());
    }
    whatsat
}

/// Appends the IAMAT every bench sender uses: `client` at a fixed place, at time `at`.
pub fn push_iamat(cmd: &mut Vec<u8>, client: std::fmt::Arguments<'_>, at: SystemTime) {
    use std::io::Write;
    let t = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let _ = writeln!(
        cmd,
        "IAMAT {client} +34.068930-118.445127 {}.{:09}",
        t.as_secs(),
        t.subsec_nanos()
    );
}

/// Waits (at most `limit` per step) until the server at `addr` has answered an IAMAT for
/// `client` and then a WHATSAT for it, the grader way on one connection: the server is then
/// ready in full, its Places table loaded, so that start-up work (the embedded table loads on
/// a thread of its own, 70 ms of CPU) does not run inside a measurement.
pub fn warm_up(addr: SocketAddr, client: &str, limit: Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let fail = |what: &str, e: std::io::Error| format!("warm-up at {addr}: {what}: {e}");
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, limit).map_err(|e| fail("connect", e))?;
    s.set_read_timeout(Some(limit))
        .map_err(|e| fail("read timeout", e))?;
    s.set_write_timeout(Some(limit))
        .map_err(|e| fail("write timeout", e))?;
    let mut cmd = Vec::new();
    push_iamat(&mut cmd, format_args!("{client}"), SystemTime::now());
    cmd.extend_from_slice(format!("WHATSAT {client} 10 1\n").as_bytes());
    s.write_all(&cmd).map_err(|e| fail("write", e))?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| fail("half-close", e))?;
    let mut reply = Vec::new();
    s.take(MAX_REPLY as u64)
        .read_to_end(&mut reply)
        .map_err(|e| fail("read", e))?;
    // The IAMAT's AT line, then the WHATSAT's: an AT line, the JSON and a blank line.
    match reply_end(&reply, false) {
        Some(n)
            if reply.starts_with(b"AT ")
                && reply[n..].starts_with(b"AT ")
                && reply.ends_with(b"\n\n") =>
        {
            Ok(())
        }
        _ => Err(format!(
            "warm-up at {addr}: unexpected reply {:?}",
            String::from_utf8_lossy(&reply[..reply.len().min(200)])
        )),
    }
}

/// Where the reply to a command ends in `buf`, if it is all there.
pub fn reply_end(buf: &[u8], whatsat: bool) -> Option<usize> {
    let first = memchr::memchr(b'\n', buf)? + 1;
    if whatsat && buf.starts_with(b"AT ") {
        memchr::memmem::find(&buf[first..], b"\n\n").map(|i| first + i + 2)
    } else {
        Some(first)
    }
}

/// Tallies one reply; false if it has an unexpected shape.
fn tally(t: &mut Tally, cmd: &[u8], reply: &[u8], whatsat: bool, took: Duration) -> bool {
    let good = reply.starts_with(b"AT ") || reply == cmd;
    if !good {
        t.unexpected += 1;
        if t.first_error.is_none() {
            t.first_error = Some(format!(
                "unexpected reply {:?} to {:?}",
                String::from_utf8_lossy(&reply[..reply.len().min(200)]),
                String::from_utf8_lossy(cmd).trim_end()
            ));
        }
        return false;
    }
    t.hist.saturating_record(micros(took));
    if whatsat {
        t.whatsat += 1;
    } else {
        t.iamat += 1;
    }
    true
}

/// One command on a connection of its own, the grader way: connect, write, half-close, read the
/// reply to EOF (at most `MAX_REPLY` bytes) into `reply`.
async fn one_shot(spec: &LoadSpec, cmd: &[u8], reply: &mut Vec<u8>) -> Result<usize, String> {
    let mut stream = connect(spec).await?;
    stream
        .write_all(cmd)
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| format!("half-close: {e}"))?;
    (&mut stream)
        .take(MAX_REPLY as u64)
        .read_to_end(reply)
        .await
        .map_err(|e| format!("read: {e}"))
}

async fn connect(spec: &LoadSpec) -> Result<rt::TcpStream, String> {
    match rt::timeout(spec.op_timeout, rt::connect(spec.addr)).await {
        None => Err(format!("connect to {} timed out", spec.addr)),
        Some(Err(e)) => Err(format!("connect to {}: {e}", spec.addr)),
        Some(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

/// Many commands on one connection.
async fn persistent(spec: &LoadSpec, id: usize, deadline: Instant, issued: &AtomicU64) -> Tally {
    let mut t = Tally::new();
    let mut stream = match connect(spec).await {
        Ok(s) => s,
        Err(e) => {
            t.error(e);
            return t;
        }
    };
    let mut rng = fastrand::Rng::with_seed(id as u64);
    let mut cmd = Vec::with_capacity(128);
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut known = spec.read_only;
    while may_send(spec, deadline, issued) {
        let whatsat = next_command(spec, id, known, &mut rng, &mut cmd);
        let t0 = Instant::now();
        let exchange = async {
            stream
                .write_all(&cmd)
                .await
                .map_err(|e| format!("write: {e}"))?;
            loop {
                if let Some(end) = reply_end(&buf, whatsat) {
                    return Ok(end);
                }
                if buf.len() > MAX_REPLY {
                    return Err("reply too long".to_string());
                }
                match stream.read(&mut chunk).await {
                    Ok(0) => return Err("server closed the connection".to_string()),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
        };
        let end = match rt::timeout(spec.op_timeout, exchange).await {
            Some(Ok(end)) => end,
            Some(Err(e)) => {
                t.error(e);
                return t;
            }
            None => {
                t.error(format!("no reply within {:?}", spec.op_timeout));
                return t;
            }
        };
        let took = t0.elapsed();
        if tally(&mut t, &cmd, &buf[..end], whatsat, took) && !whatsat {
            known = true;
        }
        buf.drain(..end);
    }
    t
}

/// A connection per command: connect, write, half-close, read to EOF.
async fn per_command(spec: &LoadSpec, id: usize, deadline: Instant, issued: &AtomicU64) -> Tally {
    let mut t = Tally::new();
    let mut rng = fastrand::Rng::with_seed(id as u64);
    let mut cmd = Vec::with_capacity(128);
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut known = spec.read_only;
    while may_send(spec, deadline, issued) {
        let whatsat = next_command(spec, id, known, &mut rng, &mut cmd);
        buf.clear();
        let t0 = Instant::now();
        match rt::timeout(spec.op_timeout, one_shot(spec, &cmd, &mut buf)).await {
            Some(Ok(_)) => {
                let took = t0.elapsed();
                if tally(&mut t, &cmd, &buf, whatsat, took) && !whatsat {
                    known = true;
                }
            }
            Some(Err(e)) => {
                t.error(e);
                rt::sleep(Duration::from_millis(1)).await;
            }
            None => t.error(format!("no reply within {:?}", spec.op_timeout)),
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::reply_end;

    #[test]
    fn replies_end_where_the_protocol_says() {
        assert_eq!(reply_end(b"AT x\n", false), Some(5));
        assert_eq!(reply_end(b"AT x", false), None);
        assert_eq!(reply_end(b"AT x\n{\n}\n\nAT", true), Some(10));
        assert_eq!(reply_end(b"AT x\n{\n}\n", true), None);
        assert_eq!(reply_end(b"? WHATSAT a 1 1\n", true), Some(16));
        assert_eq!(reply_end(b"WHATSAT a 1 1\n", true), Some(14));
    }
}
