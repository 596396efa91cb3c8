//! SIGTERM and SIGINT (Ctrl-C) as a stop signal any task can wait on; SIGHUP reopens the log
//! files (after logrotate moved them).
//!
//! A small thread waits on signal-hook's iterator, so no runtime has to support signals.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::net::{stop_channel, Stop};

/// Starts listening; the returned [`Stop`] fires at the first SIGTERM or SIGINT.
pub fn listen() -> Result<Stop, String> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let (handle, stop) = stop_channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    crate::logging::reopen();
                    log::info!("received SIGHUP: log files reopened");
                    continue;
                }
                log::info!("received signal {sig}");
                break;
            }
            handle.fire();
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(stop)
}
