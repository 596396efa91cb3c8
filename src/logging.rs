//! Log files: one per server (`<dir>/<Name>.log`), through `log` and simplelog.
//!
//! Every server logs with the target `herd[<Name>]` (see [`crate::net::log_target`]); a
//! WriteLogger per server keeps only its own records, and a herd-wide `herd.log` takes the rest
//! when several servers share a process. Files are buffered and flushed every 200 ms by a
//! background thread and at exit, so logging every line costs no syscall on the hot path.
//! The level can change at run time ([`set_level`]); the loggers themselves pass everything.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::LevelFilter;
use simplelog::{
    ColorChoice, CombinedLogger, ConfigBuilder, SharedLogger, TermLogger, TerminalMode, WriteLogger,
};

use crate::net::log_target;

/// A file shared between the logger and the flusher thread.
#[derive(Clone)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .flush()
    }
}

/// Keeps the flusher running; flushes the files when dropped.
pub struct LogGuard {
    /// Tells the flusher to stop.
    stop: Arc<AtomicBool>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
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
    let mut loggers: Vec<Box<dyn SharedLogger>> = Vec::new();
    let mut files = Vec::new();
    let open = |path: PathBuf| -> Result<SharedFile, String> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map(|f| SharedFile(Arc::new(Mutex::new(BufWriter::with_capacity(64 * 1024, f)))))
            .map_err(|e| format!("cannot open log file {}: {e}", path.display()))
    };
    let base = || {
        let mut b = ConfigBuilder::new();
        b.set_time_format_rfc3339()
            .set_thread_level(LevelFilter::Off)
            .set_target_level(LevelFilter::Off)
            .set_location_level(LevelFilter::Off);
        b
    };
    if let [only] = setup.servers {
        // One server per process: everything the process logs goes to its file.
        let f = open(setup.dir.join(format!("{only}.log")))?;
        files.push(f.clone());
        loggers.push(WriteLogger::new(LevelFilter::Trace, base().build(), f));
    } else {
        let mut rest = base();
        for name in setup.servers {
            let f = open(setup.dir.join(format!("{name}.log")))?;
            files.push(f.clone());
            let cfg = base().add_filter_allow(log_target(name)).build();
            loggers.push(WriteLogger::new(LevelFilter::Trace, cfg, f));
            rest.add_filter_ignore(log_target(name));
        }
        let f = open(setup.dir.join("herd.log"))?;
        files.push(f.clone());
        loggers.push(WriteLogger::new(LevelFilter::Trace, rest.build(), f));
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
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                for f in &mut files {
                    let _ = f.flush();
                }
            }
        })
        .map_err(|e| format!("cannot start the log flusher: {e}"))?;
    Ok(LogGuard { stop })
}

/// Changes the level at run time (operator command).
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// The current level.
pub fn level() -> LevelFilter {
    log::max_level()
}
