//! Log files: one per server (`<dir>/<Name>.log`), through `log` and simplelog.
//!
//! Every server logs with the target `herd[<Name>]` (see [`log_target`]); with one
//! server per process everything goes to its file, and with several (the demo, the bench)
//! [`route::Router`] hands each record to its server's simplelog WriteLogger only, and `herd.log`
//! takes the rest. Warnings and errors also go to stderr through simplelog's TermLogger, unless
//! the console owns the terminal.
//!
//! Logging stays off the hot path: simplelog formats a record into its file's staging buffer
//! (under the WriteLogger's own lock, no system call), full staging buffers move to the file's
//! pending bytes, and a writer thread writes those with one `write` per file every 50 ms, or
//! sooner when 256 KiB wait. Memory is bounded: past 8 MiB waiting (a disk that cannot keep up),
//! the logging thread writes the bytes itself. [`LogGuard`] writes everything out at exit. The
//! level can change at run time ([`set_level`]): the loggers pass everything and `log`'s global
//! maximum decides.
//!
//! Files stay bounded: a file that would grow past `max_bytes` is rotated (`<Name>.log` ->
//! `<Name>.log.1` -> ... -> `<Name>.log.<keep>`, the oldest dropped), and [`reopen`] (SIGHUP)
//! makes every file be opened again by name, so an external logrotate works. A write that fails
//! (a full disk) never stops the server: the bytes are dropped and counted ([`dropped_bytes`]),
//! one error goes to stderr (again at most once a minute while it lasts), and writing resumes
//! by itself when space returns, with a line in the file saying how much was lost. The rotation
//! is a few renames written here: the rotating-file crates neither reopen on a signal nor
//! account for bytes a full disk refused.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use log::LevelFilter;
use simplelog::{ColorChoice, ConfigBuilder, SharedLogger, TermLogger, TerminalMode, WriteLogger};

use crate::sync::lock;

mod route;

/// The writer thread wakes at least this often.
const INTERVAL: Duration = Duration::from_millis(50);
/// Staged bytes that move to the pending buffer at once.
const STAGE: usize = 32 * 1024;
/// Pending bytes that wake the writer early.
const HIGH: usize = 256 * 1024;
/// Pending bytes past which the logging thread writes them itself.
const CAP: usize = 8 * 1024 * 1024;

/// The `log` target of a server's records (`herd[Clark]`); the logger routes on it.
pub fn log_target(name: &str) -> String {
    format!("herd[{name}]")
}

/// The target of records meant for the log files only: the reason a process stops with an
/// error, which the process also prints on stderr itself (so the terminal logger skips it).
const FILES_ONLY: &str = "herd::exit";

/// Writes why the process is stopping to its log files (not to stderr, where `main` prints it),
/// so an operator who reads only the files sees why a daemon exited. Call while the
/// [`LogGuard`] is alive: dropping it flushes the line.
pub fn exit_error(msg: &str) {
    for line in msg.lines() {
        log::error!(target: FILES_ONLY, "stopping: {line}");
    }
}

/// How often a failing file may report to stderr.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Log bytes dropped because a write failed, process-wide (a metric).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Bumped by [`reopen`]: a file opened under an older value is opened again by name.
static REOPENS: AtomicU64 = AtomicU64::new(0);

/// Whether write failures may be reported on stderr (not while the console owns it).
static STDERR: AtomicBool = AtomicBool::new(false);

/// Log bytes dropped so far because the disk refused them.
pub fn dropped_bytes() -> u64 {
    DROPPED.load(Relaxed)
}

/// Opens every log file again by name before its next write (SIGHUP, after logrotate moved
/// the files away).
pub fn reopen() {
    REOPENS.fetch_add(1, Relaxed);
}

/// Wakes the writer thread early.
#[derive(Default)]
struct Wake {
    /// Set when there is a reason to wake.
    flag: Mutex<bool>,
    /// Signalled with `flag`.
    cv: Condvar,
}

/// When a file is rotated.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    /// Rotate before a write would take the file past this size; 0 never rotates.
    pub max_bytes: u64,
    /// Rotated files kept (`.1` .. `.keep`).
    pub keep: usize,
}

/// An open log file and what the writer knows of it.
struct OpenFile {
    /// The file, opened for appending.
    file: File,
    /// Its size as far as our writes know (for rotation).
    size: u64,
    /// The [`REOPENS`] value it was opened under.
    opened_at: u64,
    /// Since when writes fail, the bytes dropped since, and when that was last reported.
    failing: Option<(Instant, u64, Instant)>,
}

/// One log file and the formatted lines waiting for it.
struct Sink {
    /// Lines formatted but not yet written.
    pending: Mutex<Vec<u8>>,
    /// Its path (reopened and rotated by name).
    path: PathBuf,
    /// When it rotates.
    rotation: Rotation,
    /// The file; the writer thread (and a logging thread past `CAP`) write it.
    file: Mutex<OpenFile>,
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((file, size))
}

/// Says something about the log files on stderr, if the console does not own it.
fn report(msg: &str) {
    if STDERR.load(Relaxed) {
        eprintln!("herd: {msg}");
    }
}

impl Sink {
    fn open(path: PathBuf, rotation: Rotation) -> Result<Arc<Sink>, String> {
        let (file, size) = open_append(&path)
            .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
        Ok(Arc::new(Sink {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            file: Mutex::new(OpenFile {
                file,
                size,
                opened_at: REOPENS.load(Relaxed),
                failing: None,
            }),
            path,
            rotation,
        }))
    }

    /// Writes what is pending; `spare` is reused as the next pending buffer.
    fn write_out(&self, spare: &mut Vec<u8>) {
        spare.clear();
        std::mem::swap(&mut *lock(&self.pending), spare);
        if !spare.is_empty() {
            self.write(&mut lock(&self.file), spare);
        }
    }

    /// `<path>.<n>`.
    fn numbered(&self, n: usize) -> PathBuf {
        PathBuf::from(format!("{}.{n}", self.path.display()))
    }

    /// Shifts `<path>` to `<path>.1`, `.1` to `.2`, ..., dropping `.<keep>`, and opens a new
    /// `<path>`.
    fn rotate(&self, f: &mut OpenFile) -> io::Result<()> {
        for n in (1..self.rotation.keep).rev() {
            match std::fs::rename(self.numbered(n), self.numbered(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        let (file, size) = open_append(&self.path)?;
        f.file = file;
        f.size = size;
        Ok(())
    }

    /// Writes `bytes` to the file: reopens it after [`reopen`], rotates it when due, and on a
    /// failure drops and counts what was not written.
    fn write(&self, f: &mut OpenFile, bytes: &[u8]) {
        let gen = REOPENS.load(Relaxed);
        if f.opened_at != gen {
            f.opened_at = gen;
            match open_append(&self.path) {
                Ok((file, size)) => (f.file, f.size) = (file, size),
                Err(e) => report(&format!(
                    "cannot reopen log file {}: {e}; still writing to the old one",
                    self.path.display()
                )),
            }
        }
        let max = self.rotation.max_bytes;
        if max > 0 && f.size > 0 && f.size + bytes.len() as u64 > max {
            if let Err(e) = self.rotate(f) {
                report(&format!(
                    "cannot rotate log file {}: {e}",
                    self.path.display()
                ));
            }
        }
        if let Some((since, dropped, _)) = f.failing {
            // Writing may work again: say first what was lost.
            let msg = format!(
                "log writing resumed after {:?}: {dropped} bytes of log were dropped meanwhile",
                since.elapsed()
            );
            let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
            let line = format!("{now} WARN  {msg}\n");
            if f.file.write_all(line.as_bytes()).is_ok() {
                f.size += line.len() as u64;
                f.failing = None;
                report(&format!("{}: {msg}", self.path.display()));
            }
        }
        let mut written = 0;
        let mut error = None;
        while written < bytes.len() {
            match f.file.write(&bytes[written..]) {
                Ok(0) => {
                    error = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        f.size += written as u64;
        let lost = (bytes.len() - written) as u64;
        match (error, &mut f.failing) {
            (Some(e), None) => {
                DROPPED.fetch_add(lost, Relaxed);
                let now = Instant::now();
                f.failing = Some((now, lost, now));
                report(&format!(
                    "cannot write log file {}: {e}; the server goes on, log lines are dropped \
                     and counted (herd_log_dropped_bytes_total) until writing works again",
                    self.path.display()
                ));
            }
            (Some(e), Some((since, dropped, reported))) => {
                DROPPED.fetch_add(lost, Relaxed);
                *dropped += lost;
                if reported.elapsed() >= REPORT_EVERY {
                    *reported = Instant::now();
                    report(&format!(
                        "log file {} still cannot be written ({e}) after {:?}: {} bytes dropped so far",
                        self.path.display(),
                        since.elapsed(),
                        dropped
                    ));
                }
            }
            (None, _) => {}
        }
    }
}

/// What simplelog writes into: a staging buffer in front of a [`Sink`].
struct Staged {
    /// Records formatted since the last hand-over.
    staging: Vec<u8>,
    /// Where they go.
    sink: Arc<Sink>,
    /// The writer thread's doorbell.
    wake: Arc<Wake>,
}

impl Staged {
    /// Moves the staged bytes to the sink's pending buffer.
    fn hand_over(&mut self) {
        if self.staging.is_empty() {
            return;
        }
        let mut p = lock(&self.sink.pending);
        let before = p.len();
        p.extend_from_slice(&self.staging);
        self.staging.clear();
        let len = p.len();
        if len >= CAP {
            // The writer is behind (a slow disk): write here rather than grow memory.
            let full = std::mem::take(&mut *p);
            drop(p);
            self.sink.write(&mut lock(&self.sink.file), &full);
        } else if len >= HIGH && before < HIGH {
            drop(p);
            *lock(&self.wake.flag) = true;
            self.wake.cv.notify_one();
        }
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.staging.extend_from_slice(buf);
        if self.staging.len() >= STAGE {
            self.hand_over();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over();
        Ok(())
    }
}

/// Every file of the process, for the writer thread and the final write-out.
struct Files {
    /// The sinks.
    sinks: Vec<Arc<Sink>>,
    /// The writer thread's doorbell.
    wake: Arc<Wake>,
}

impl Files {
    /// Moves staged records to the sinks (through the loggers' flush) and writes them out.
    fn write_out(&self, spare: &mut Vec<u8>) {
        log::logger().flush();
        for s in &self.sinks {
            s.write_out(spare);
        }
    }

    /// The writer thread's loop: never returns.
    fn write_forever(&self) {
        let mut spare = Vec::with_capacity(64 * 1024);
        loop {
            {
                let flag = lock(&self.wake.flag);
                let (mut flag, _) = self
                    .wake
                    .cv
                    .wait_timeout_while(flag, INTERVAL, |w| !*w)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *flag = false;
            }
            self.write_out(&mut spare);
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

/// Writes every file out when dropped (the writer thread keeps running for later records).
pub struct LogGuard {
    /// The files.
    files: Arc<Files>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.files.write_out(&mut Vec::new());
        for s in &self.files.sinks {
            let _ = lock(&s.file).file.flush();
        }
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
    /// When files rotate.
    pub rotation: Rotation,
}

/// simplelog's record layout: RFC 3339 UTC time, level, message.
fn base() -> ConfigBuilder {
    let mut b = ConfigBuilder::new();
    b.set_time_format_rfc3339()
        .set_thread_level(LevelFilter::Off)
        .set_target_level(LevelFilter::Off)
        .set_location_level(LevelFilter::Off);
    b
}

/// Installs the process-wide logger. Errors name the file that could not be opened.
pub fn init(setup: &LogSetup<'_>) -> Result<LogGuard, String> {
    std::fs::create_dir_all(setup.dir)
        .map_err(|e| format!("cannot create log folder {}: {e}", setup.dir.display()))?;
    let wake = Arc::new(Wake::default());
    let mut sinks = Vec::new();
    let mut file_logger = |path: PathBuf| -> Result<Box<dyn SharedLogger>, String> {
        let sink = Sink::open(path, setup.rotation)?;
        sinks.push(sink.clone());
        let staged = Staged {
            staging: Vec::with_capacity(STAGE + 4096),
            sink,
            wake: wake.clone(),
        };
        Ok(WriteLogger::new(LevelFilter::Trace, base().build(), staged))
    };
    let mut servers = HashMap::new();
    let rest = if let [only] = setup.servers {
        // One server per process: everything the process logs goes to its file.
        file_logger(setup.dir.join(format!("{only}.log")))?
    } else {
        for name in setup.servers {
            let logger = file_logger(setup.dir.join(format!("{name}.log")))?;
            servers.insert(log_target(name), logger);
        }
        file_logger(setup.dir.join("herd.log"))?
    };
    STDERR.store(setup.stderr, Relaxed);
    let term: Option<Box<dyn SharedLogger>> = setup.stderr.then(|| {
        let cfg = base()
            .set_target_level(LevelFilter::Error)
            .add_filter_ignore_str(FILES_ONLY)
            .build();
        TermLogger::new(
            LevelFilter::Warn,
            cfg,
            TerminalMode::Stderr,
            ColorChoice::Never,
        ) as Box<dyn SharedLogger>
    });
    log::set_boxed_logger(Box::new(route::Router::new(servers, rest, term)))
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    log::set_max_level(setup.level);
    let files = Arc::new(Files { sinks, wake });
    let writer = files.clone();
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || writer.write_forever())
        .map_err(|e| format!("cannot start the log writer: {e}"))?;
    Ok(LogGuard { files })
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

    const NO_ROTATION: Rotation = Rotation {
        max_bytes: 0,
        keep: 1,
    };

    /// Held by the tests that call [`reopen`] or that swap a sink's file: a reopen (process-wide)
    /// makes every sink open its file again by name, which would put back the good file a test
    /// had swapped for `/dev/full` while the tests run in parallel.
    static REOPEN_TESTS: Mutex<()> = Mutex::new(());

    #[test]
    fn files_rotate_at_their_size_and_keep_as_many_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 1000,
            keep: 3,
        };
        let sink = Sink::open(dir.path().join("x.log"), rotation).unwrap();
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..100 {
            sink.write(&mut lock(&sink.file), &line);
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["x.log", "x.log.1", "x.log.2", "x.log.3"]);
        for n in &names {
            let len = std::fs::metadata(dir.path().join(n)).unwrap().len();
            assert!(len <= 1000 && len.is_multiple_of(100), "{n}: {len}");
        }
    }

    #[test]
    fn a_failing_file_drops_and_counts_and_resumes() {
        // /dev/full refuses every write with ENOSPC, as a full disk does.
        let Ok(full) = OpenOptions::new().append(true).open("/dev/full") else {
            eprintln!("SKIPPED: no /dev/full on this system");
            return;
        };
        let _serial = lock(&REOPEN_TESTS);
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::open(dir.path().join("x.log"), NO_ROTATION).unwrap();
        let good = std::mem::replace(&mut lock(&sink.file).file, full);
        let before = dropped_bytes();
        sink.write(&mut lock(&sink.file), b"lost line\n");
        sink.write(&mut lock(&sink.file), b"lost too\n");
        assert!(dropped_bytes() - before >= 19);
        lock(&sink.file).file = good;
        sink.write(&mut lock(&sink.file), b"back\n");
        let text = std::fs::read_to_string(dir.path().join("x.log")).unwrap();
        assert!(text.contains("log writing resumed after"), "{text}");
        assert!(text.contains("19 bytes of log were dropped"), "{text}");
        assert!(text.ends_with("back\n"), "{text}");
    }

    #[test]
    fn a_reopen_writes_to_a_new_file_after_a_rename() {
        let _serial = lock(&REOPEN_TESTS);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let sink = Sink::open(path.clone(), NO_ROTATION).unwrap();
        sink.write(&mut lock(&sink.file), b"one\n");
        std::fs::rename(&path, dir.path().join("x.log.old")).unwrap();
        sink.write(&mut lock(&sink.file), b"two\n");
        reopen();
        sink.write(&mut lock(&sink.file), b"three\n");
        let old = std::fs::read_to_string(dir.path().join("x.log.old")).unwrap();
        assert_eq!(old, "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
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
    fn staged_bytes_reach_the_file_only_when_handed_over_and_written() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::open(dir.path().join("x.log"), NO_ROTATION).unwrap();
        let mut staged = Staged {
            staging: Vec::new(),
            sink: sink.clone(),
            wake: Arc::new(Wake::default()),
        };
        staged.write_all(b"one\n").unwrap();
        let read = || std::fs::read_to_string(dir.path().join("x.log")).unwrap();
        assert_eq!(read(), "", "no system call per record");
        staged.flush().unwrap();
        assert_eq!(read(), "", "handed over, not yet written");
        sink.write_out(&mut Vec::new());
        assert_eq!(read(), "one\n");
        // A big burst hands itself over without a flush.
        let big = vec![b'x'; STAGE + 1];
        staged.write_all(&big).unwrap();
        assert!(staged.staging.is_empty());
        sink.write_out(&mut Vec::new());
        assert_eq!(read().len(), 4 + STAGE + 1);
    }
}
