//! Log files: one per server (`<dir>/<Name>.log`), through the `log` facade.
//!
//! Every server logs with the target `herd[<Name>]` (see [`crate::net::log_target`]); with one
//! server per process everything goes to its file, and with several (the demo, the bench) each
//! server's records go to its own file and the rest to `herd.log`.
//!
//! Logging stays off the hot path: a record is formatted on the calling thread into a reused
//! buffer (the date part of the timestamp is cached per second), appended to its file's pending
//! bytes under a short lock, and a writer thread writes the pending bytes with one `write` per
//! file every 50 ms, or sooner when 256 KiB wait. Memory is bounded: past 8 MiB waiting (a disk
//! that cannot keep up), the caller writes the bytes itself. The writer flushes at exit through
//! [`LogGuard`]. The level can change at run time ([`set_level`]).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::net::log_target;

/// The writer thread wakes at least this often.
const INTERVAL: Duration = Duration::from_millis(50);
/// Pending bytes that wake the writer early.
const HIGH: usize = 256 * 1024;
/// Pending bytes past which the caller writes them itself.
const CAP: usize = 8 * 1024 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One log file and the formatted lines waiting for it.
struct Sink {
    /// Lines formatted but not yet written.
    pending: Mutex<Vec<u8>>,
    /// The file; only the writer (and a caller past `CAP`, and `flush`) write it.
    file: Mutex<File>,
}

impl Sink {
    fn open(path: PathBuf) -> Result<Arc<Sink>, String> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
        Ok(Arc::new(Sink {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            file: Mutex::new(file),
        }))
    }

    /// Writes what is pending; `spare` is reused as the next pending buffer.
    fn write_out(&self, spare: &mut Vec<u8>) {
        spare.clear();
        std::mem::swap(&mut *lock(&self.pending), spare);
        if !spare.is_empty() {
            let _ = lock(&self.file).write_all(spare);
        }
    }
}

/// The process-wide logger.
struct HerdLogger {
    /// Per-server files when several servers share the process: (target, file).
    routes: Vec<(String, Arc<Sink>)>,
    /// Records of no listed server (or every record, with one server).
    rest: Arc<Sink>,
    /// Every file, for the writer.
    all: Vec<Arc<Sink>>,
    /// Also print warnings and errors to stderr.
    stderr: bool,
    /// Wakes the writer early.
    wake: Condvar,
    /// Set when there is a reason to wake (paired with `wake`).
    woken: Mutex<bool>,
}

thread_local! {
    /// A formatting buffer and the cached "YYYY-MM-DDTHH:MM:SS" of the last second seen.
    static SCRATCH: RefCell<(Vec<u8>, u64, [u8; 19])> = const { RefCell::new((Vec::new(), u64::MAX, [0; 19])) };
}

/// "YYYY-MM-DDTHH:MM:SS" for `secs` after the epoch (UTC, proleptic Gregorian).
fn civil(secs: u64) -> [u8; 19] {
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut out = [0u8; 19];
    let mut w = &mut out[..];
    let _ = write!(
        w,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        y.clamp(0, 9999),
        m,
        d,
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    out
}

/// Appends an RFC 3339 UTC timestamp with nanoseconds.
fn stamp(buf: &mut Vec<u8>, cached: &mut u64, date: &mut [u8; 19]) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    if now.as_secs() != *cached {
        *cached = now.as_secs();
        *date = civil(*cached);
    }
    buf.extend_from_slice(date);
    let mut nanos = [b'0'; 9];
    let mut n = now.subsec_nanos();
    for d in nanos.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    buf.push(b'.');
    buf.extend_from_slice(&nanos);
    buf.push(b'Z');
}

fn format_record(buf: &mut Vec<u8>, cached: &mut u64, date: &mut [u8; 19], record: &Record) {
    stamp(buf, cached, date);
    buf.extend_from_slice(match record.level() {
        Level::Error => b" [ERROR] ",
        Level::Warn => b" [WARN] ",
        Level::Info => b" [INFO] ",
        Level::Debug => b" [DEBUG] ",
        Level::Trace => b" [TRACE] ",
    });
    let _ = buf.write_fmt(*record.args());
    buf.push(b'\n');
}

impl HerdLogger {
    fn sink(&self, target: &str) -> &Sink {
        self.routes
            .iter()
            .find(|(t, _)| t == target)
            .map_or(&self.rest, |(_, s)| s)
    }

    fn append(&self, sink: &Sink, line: &[u8]) {
        let mut p = lock(&sink.pending);
        p.extend_from_slice(line);
        let len = p.len();
        if len >= CAP {
            // The writer is behind (a slow disk): write here rather than grow memory.
            let full = std::mem::take(&mut *p);
            drop(p);
            let _ = lock(&sink.file).write_all(&full);
        } else if len >= HIGH && len - line.len() < HIGH {
            drop(p);
            *lock(&self.woken) = true;
            self.wake.notify_one();
        }
    }

    /// The writer thread's loop: never returns.
    fn write_forever(&self) {
        let mut spare = Vec::with_capacity(64 * 1024);
        loop {
            {
                let woken = lock(&self.woken);
                let (mut woken, _) = self
                    .wake
                    .wait_timeout_while(woken, INTERVAL, |w| !*w)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *woken = false;
            }
            for s in &self.all {
                s.write_out(&mut spare);
            }
        }
    }
}

impl Log for HerdLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let sink = self.sink(record.target());
        let done = SCRATCH.with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                return false;
            };
            let (buf, cached, date) = &mut *s;
            buf.clear();
            format_record(buf, cached, date, record);
            self.append(sink, buf);
            if buf.capacity() > 64 * 1024 {
                *buf = Vec::new();
            }
            true
        });
        if !done {
            // Re-entered while formatting (a Display that logs): format into a fresh buffer.
            let mut buf = Vec::new();
            let (mut cached, mut date) = (u64::MAX, [0; 19]);
            format_record(&mut buf, &mut cached, &mut date, record);
            self.append(sink, &buf);
        }
        if self.stderr && record.level() <= Level::Warn {
            eprintln!("{} [{}] {}", record.target(), record.level(), record.args());
        }
    }

    fn flush(&self) {
        let mut spare = Vec::new();
        for s in &self.all {
            s.write_out(&mut spare);
            let _ = lock(&s.file).flush();
        }
    }
}

/// Bytes as a log line shows them: the same text as `escape_ascii`, but printable ASCII (the
/// usual case) goes out in one write instead of byte by byte.
pub struct Bytes<'a>(pub &'a [u8]);

impl std::fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No early exit, so the check vectorises; the three quotable bytes by memchr3.
        let printable = self
            .0
            .iter()
            .fold(true, |ok, &b| ok & (b.wrapping_sub(0x20) < 0x5f));
        if printable && memchr::memchr3(b'\\', b'\'', b'"', self.0).is_none() {
            if let Ok(text) = std::str::from_utf8(self.0) {
                return f.write_str(text);
            }
        }
        write!(f, "{}", self.0.escape_ascii())
    }
}

/// Flushes the files when dropped (the writer thread keeps running for later records).
pub struct LogGuard {
    /// Not constructible elsewhere.
    _private: (),
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        log::logger().flush();
    }
}

/// Where the log files go and what else to show.
pub struct LogSetup<'a> {
    /// The folder, created when missing.
    pub dir: &'a Path,
    /// The servers running in this process.
    pub servers: &'a [String],
    /// The starting level.
    pub level: LevelFilter,
    /// Also print warnings and errors to stderr (never while the console owns the terminal).
    pub stderr: bool,
}

/// Installs the process-wide logger. Errors name the file that could not be opened.
pub fn init(setup: &LogSetup<'_>) -> Result<LogGuard, String> {
    std::fs::create_dir_all(setup.dir)
        .map_err(|e| format!("cannot create log folder {}: {e}", setup.dir.display()))?;
    let mut routes = Vec::new();
    let rest = if let [only] = setup.servers {
        // One server per process: everything the process logs goes to its file.
        Sink::open(setup.dir.join(format!("{only}.log")))?
    } else {
        for name in setup.servers {
            routes.push((
                log_target(name),
                Sink::open(setup.dir.join(format!("{name}.log")))?,
            ));
        }
        Sink::open(setup.dir.join("herd.log"))?
    };
    let mut all: Vec<Arc<Sink>> = routes.iter().map(|(_, s)| s.clone()).collect();
    all.push(rest.clone());
    let logger: &'static HerdLogger = Box::leak(Box::new(HerdLogger {
        routes,
        rest,
        all,
        stderr: setup.stderr,
        wake: Condvar::new(),
        woken: Mutex::new(false),
    }));
    log::set_logger(logger).map_err(|e| format!("cannot install the logger: {e}"))?;
    log::set_max_level(setup.level);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || logger.write_forever())
        .map_err(|e| format!("cannot start the log writer: {e}"))?;
    Ok(LogGuard { _private: () })
}

/// Changes the level at run time (operator command).
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// The current level.
pub fn level() -> LevelFilter {
    log::max_level()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(&civil(0), b"1970-01-01T00:00:00");
        assert_eq!(&civil(951_782_400), b"2000-02-29T00:00:00");
        assert_eq!(&civil(1_621_464_827), b"2021-05-19T22:53:47");
        assert_eq!(&civil(4_102_444_799), b"2099-12-31T23:59:59");
    }

    #[test]
    fn bytes_show_as_escape_ascii_does() {
        for b in [
            &b"AT Clark +0.1 kiwi +1+1 2"[..],
            b"a\\b'c\"d",
            b"\n\t\x00\xff",
            b"",
        ] {
            assert_eq!(Bytes(b).to_string(), b.escape_ascii().to_string());
        }
    }

    #[test]
    fn records_are_stamped_and_labelled() {
        let mut buf = Vec::new();
        let (mut cached, mut date) = (u64::MAX, [0; 19]);
        let args = format_args!("in  {} {}", 1, "x");
        let record = Record::builder()
            .args(args)
            .level(Level::Warn)
            .target("herd[Clark]")
            .build();
        format_record(&mut buf, &mut cached, &mut date, &record);
        let line = String::from_utf8(buf).unwrap();
        assert!(line.ends_with("Z [WARN] in  1 x\n"), "{line}");
        assert_eq!(line.find('.'), Some(19), "{line}");
        assert_eq!(line.find('Z'), Some(29), "{line}");
    }
}
