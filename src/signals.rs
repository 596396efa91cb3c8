//! SIGTERM and SIGINT (Ctrl-C) as a stop signal any task can wait on.
//!
//! A small thread waits on signal-hook's iterator, so no runtime has to support signals.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::net::{stop_channel, Stop};

/// Starts listening; the returned [`Stop`] fires at the first SIGTERM or SIGINT.
pub fn listen() -> Result<Stop, String> {
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let (handle, stop) = stop_channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                log::info!("received signal {sig}");
            }
            handle.fire();
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(stop)
}
