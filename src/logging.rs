//! Log files: one per server (`<dir>/<Name>.log`), through `log` and simplelog.
//!
//! Every server logs with the target `herd[<Name>]` (see [`log_target`]); with one
//! server per process everything goes to its file, and with several (the demo, the bench) a
//! simplelog WriteLogger per server keeps only its own records and `herd.log` takes the rest.
//! Warnings and errors also go to stderr through simplelog's TermLogger, unless the console owns
//! the terminal.
//!
//! Logging stays off the hot path: simplelog formats a record into its file's staging buffer
//! (under the WriteLogger's own lock, no system call), full staging buffers move to the file's
//! pending bytes, and a writer thread writes those with one `write` per file every 50 ms, or
//! sooner when 256 KiB wait. Memory is bounded: past 8 MiB waiting (a disk that cannot keep up),
//! the logging thread writes the bytes itself. [`LogGuard`] writes everything out at exit. The
//! level can change at run time ([`set_level`]): the loggers pass everything and `log`'s global
//! maximum decides.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use log::LevelFilter;
use simplelog::{
    ColorChoice, CombinedLogger, ConfigBuilder, SharedLogger, TermLogger, TerminalMode, WriteLogger,
};

use crate::sync::lock;

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

/// Wakes the writer thread early.
#[derive(Default)]
struct Wake {
    /// Set when there is a reason to wake.
    flag: Mutex<bool>,
    /// Signalled with `flag`.
    cv: Condvar,
}

/// One log file and the formatted lines waiting for it.
struct Sink {
    /// Lines formatted but not yet written.
    pending: Mutex<Vec<u8>>,
    /// The file; the writer thread (and a logging thread past `CAP`) write it.
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
            let _ = lock(&self.sink.file).write_all(&full);
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
            let _ = lock(&s.file).flush();
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
    let mut loggers: Vec<Box<dyn SharedLogger>> = Vec::new();
    let mut sinks = Vec::new();
    let mut file_logger = |path: PathBuf, cfg: simplelog::Config| -> Result<(), String> {
        let sink = Sink::open(path)?;
        sinks.push(sink.clone());
        let staged = Staged {
            staging: Vec::with_capacity(STAGE + 4096),
            sink,
            wake: wake.clone(),
        };
        loggers.push(WriteLogger::new(LevelFilter::Trace, cfg, staged));
        Ok(())
    };
    if let [only] = setup.servers {
        // One server per process: everything the process logs goes to its file.
        file_logger(setup.dir.join(format!("{only}.log")), base().build())?;
    } else {
        let mut rest = base();
        for name in setup.servers {
            let cfg = base().add_filter_allow(log_target(name)).build();
            file_logger(setup.dir.join(format!("{name}.log")), cfg)?;
            rest.add_filter_ignore(log_target(name));
        }
        file_logger(setup.dir.join("herd.log"), rest.build())?;
    }
    if setup.stderr {
        let cfg = base().set_target_level(LevelFilter::Error).build();
        loggers.push(TermLogger::new(
            LevelFilter::Warn,
            cfg,
            TerminalMode::Stderr,
            ColorChoice::Never,
        ));
    }
    CombinedLogger::init(loggers).map_err(|e| format!("cannot install the logger: {e}"))?;
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
        let sink = Sink::open(dir.path().join("x.log")).unwrap();
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
